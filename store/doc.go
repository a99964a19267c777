// Package store keeps kftray's configs, runtime state and settings in a
// SQLite file (configs.db, modernc.org/sqlite, no cgo) shared by the daemon,
// the CLI and the UIs.
//
// Open(ctx, dir) opens dir/configs.db (dir from paths.ConfigDir), applies
// migrations and returns a *Store that is safe for concurrent use; other
// processes may have the same file open. Writes run in BEGIN IMMEDIATE
// transactions with a busy timeout and retries, so callers never see
// "database is locked" unless their ctx ends first.
//
// Configs (fwdconfig.Config: the model, its JSON and validation live in
// package fwdconfig, which this package persists):
//   - ListConfigs, GetConfig(id), LookupConfig("alias or id")
//   - AddConfig, UpdateConfig (refuses a stale Revision with ErrConflict),
//     ModifyConfig(id, func) for atomic read-modify-write, DeleteConfigs
//   - ImportConfigs (kftray files, merged by fwdconfig.SameForward, all or
//     nothing), ExportConfigs (fwdconfig.ParseConfigs/FormatConfigs work
//     without a store)
//
// Runtime state (State, one row per config, written by the owning daemon):
// PutState, GetState, GetStates, DeleteState, ClearStates(pid).
//
// Settings (key/value): GetSetting, SetSetting, DeleteSetting, Settings.
//
// Errors: fwdconfig.ErrNotFound and fwdconfig.ErrConflict (errors.Is);
// *fwdconfig.ValidationError and *fwdconfig.ImportError list every problem;
// *NewerSchemaError and *KftrayAppDBError explain files this build must
// not touch.
package store
