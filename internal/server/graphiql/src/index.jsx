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

const defaultHeaders = JSON.stringify(
  { Authorization: 'Bearer <paste token>' },
  null,
  2,
);

const root = createRoot(document.getElementById('graphiql'));
root.render(
  React.createElement(GraphiQL, {
    fetcher,
    defaultHeaders,
    shouldPersistHeaders: true,
    isHeadersEditorEnabled: true,
    defaultEditorToolsVisibility: 'headers',
  }),
);
