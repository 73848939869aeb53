// Entry point for the offline GraphiQL bundle served by clnd.
//
// Built with `npm run build` into dist/graphiql.js and dist/graphiql.css,
// which are embedded into the Go binary (see graphiql.go).
import React from 'react';
import { createRoot } from 'react-dom/client';
import { GraphiQL } from 'graphiql';
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import 'graphiql/graphiql.css';

const loc = window.location;
const wsProtocol = loc.protocol === 'https:' ? 'wss:' : 'ws:';

// Subscriptions go over a websocket speaking graphql-transport-ws (graphql-ws).
// For every subscription the toolkit builds the connection_init payload from
// `wsConnectionParams` merged with the JSON in the headers editor, so
// {"Authorization": "Bearer <token>"} entered there reaches the server both as
// HTTP headers (queries/mutations) and in the websocket connection_init payload.
const fetcher = createGraphiQLFetcher({
  url: loc.origin + '/graphql',
  subscriptionUrl: wsProtocol + '//' + loc.host + '/graphql',
  wsConnectionParams: {},
});

// An empty Authorization header is an anonymous caller (introspection and
// the public fields work); an invalid one would be refused outright, so the
// placeholder stays empty rather than holding a fake token.
const defaultHeaders = JSON.stringify({ Authorization: '' }, null, 2);

const defaultQuery = `# Welcome to clnd.
#
# Put a token in the Headers tab below:
#   {"Authorization": "Bearer clnd_op_..."}
# \`make run\` prints an operator token;
# resellers get one from the login mutation.
# Then run this with the play button or Ctrl-Enter.

{
  viewer { role reseller { login balance } }
  ipLicenses(first: 5) {
    totalCount
    edges { node { id ip hostname type status lastCheckIn } }
  }
}
`;

const root = createRoot(document.getElementById('graphiql'));
root.render(
  React.createElement(GraphiQL, {
    fetcher,
    defaultHeaders,
    defaultQuery,
    shouldPersistHeaders: true,
    isHeadersEditorEnabled: true,
    defaultEditorToolsVisibility: 'headers',
  }),
);
