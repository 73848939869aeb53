package clnapi

import (
	"context"

	"clnd/ent"
	"clnd/ent/backup"
	"clnd/ent/iplicense"
	"clnd/internal/licensing"
	"clnd/internal/pricelist"
	"clnd/internal/store"
)

// backupItem is a backup as the ab/ calls write it. server_id is the
// license's ID as clnd shows it (IPLicense.id in GraphQL).
type backupItem struct {
	ID         string `json:"id"`
	ServerID   string `json:"server_id"`
	IP         string `json:"ip"`
	Type       int    `json:"type"`
	Size       int    `json:"size"`
	Datacenter string `json:"datacenter"`
	Created    string `json:"created"`
	CreatedAt  string `json:"created_at"`
}

// backupOf writes a backup; its license and datacenter are loaded by the
// query (WithLicense, WithDatacenter) or read here.
func backupOf(ctx context.Context, b *ent.Backup) (backupItem, error) {
	lic, err := b.Edges.LicenseOrErr()
	if err != nil {
		if lic, err = b.QueryLicense().Only(ctx); err != nil {
			return backupItem{}, err
		}
	}
	dc, err := b.Edges.DatacenterOrErr()
	if err != nil {
		if dc, err = b.QueryDatacenter().Only(ctx); err != nil {
			return backupItem{}, err
		}
	}
	return backupItem{
		ID: b.ID, ServerID: lic.ID, IP: lic.IP, Type: codeOf(lic.Type), Size: b.SizeGB, Datacenter: dc.Code,
		Created: formatTime(b.CreatedAt), CreatedAt: exactTime(b.CreatedAt),
	}, nil
}

// ab/list.json → the caller's backups, oldest first.
func abList(h *Handler, ctx context.Context, tx *ent.Tx, p params) (any, error) {
	all, err := tx.Backup.Query().WithLicense().WithDatacenter().Order(backup.ByCreatedAt(), backup.ByID()).All(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]backupItem, len(all))
	for i, b := range all {
		if out[i], err = backupOf(ctx, b); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ab/im/create.json?server_id=&size=&datacenter= → the new backup: activateBackup.
func abCreate(h *Handler, ctx context.Context, tx *ent.Tx, p params) (any, error) {
	id, err := p.required("server_id")
	if err != nil {
		return nil, err
	}
	size, err := p.positive("size")
	if err != nil {
		return nil, err
	}
	dc, err := p.required("datacenter")
	if err != nil {
		return nil, err
	}
	b, err := h.BackupSizes.Activate(ctx, tx, id, size, dc)
	if err != nil {
		return nil, err
	}
	return backupOf(ctx, b)
}

// ab/resize.json?server_id=&size= → the resized backup.
func abResize(h *Handler, ctx context.Context, tx *ent.Tx, p params) (any, error) {
	id, err := p.required("server_id")
	if err != nil {
		return nil, err
	}
	size, err := p.positive("size")
	if err != nil {
		return nil, err
	}
	b, err := h.BackupSizes.Resize(ctx, tx, id, size)
	if err != nil {
		return nil, err
	}
	return backupOf(ctx, b)
}

// ab/remove.json?server_id= → true: deactivateBackup. A license of the
// caller's without a backup (removed already) is success, so a retry is
// safe; a license that is not the caller's is NOT_FOUND.
func abRemove(h *Handler, ctx context.Context, tx *ent.Tx, p params) (any, error) {
	id, err := p.required("server_id")
	if err != nil {
		return nil, err
	}
	// The license is locked before its backup is read: a removal of the
	// same backup running at the same time finishes first, and this one
	// then finds no backup, which is success.
	lic, err := tx.IPLicense.Query().Where(iplicense.ID(id)).Modify(store.ForUpdate).Only(ctx)
	if err == nil {
		lic, err = tx.IPLicense.Query().Where(iplicense.ID(id)).WithBackup().Only(ctx)
	}
	if err == nil && lic.Edges.Backup == nil {
		return true, nil
	}
	// Not found (or an error reading it): deactivateBackup answers as it
	// answers GraphQL.
	if _, err := licensing.DeactivateBackup(ctx, tx, id); err != nil {
		return nil, err
	}
	return true, nil
}

// ab/datacenters.json → [{"code", "name"}]: where ab/im/create can store a backup.
func abDatacenters(h *Handler, ctx context.Context, tx *ent.Tx, p params) (any, error) {
	all, err := pricelist.Datacenters(ctx, tx.Client())
	if err != nil {
		return nil, err
	}
	type datacenter struct {
		Code string `json:"code"`
		Name string `json:"name"`
	}
	out := make([]datacenter, len(all))
	for i, d := range all {
		out[i] = datacenter{Code: d.Code, Name: d.Name}
	}
	return out, nil
}
