-- A configs.db at schema version 1, as the first release wrote it.
-- Kept verbatim: the migration test opens a file built from it.
CREATE TABLE configs (
	id                    INTEGER PRIMARY KEY AUTOINCREMENT,
	alias                 TEXT    NOT NULL DEFAULT '',
	context               TEXT    NOT NULL DEFAULT '',
	kubeconfig            TEXT    NOT NULL DEFAULT '',
	namespace             TEXT    NOT NULL,
	workload_type         TEXT    NOT NULL,
	protocol              TEXT    NOT NULL DEFAULT 'tcp',
	service               TEXT    NOT NULL DEFAULT '',
	target                TEXT    NOT NULL DEFAULT '',
	remote_address        TEXT    NOT NULL DEFAULT '',
	remote_port           INTEGER NOT NULL DEFAULT 0,
	local_address         TEXT    NOT NULL DEFAULT '',
	local_port            INTEGER NOT NULL DEFAULT 0,
	auto_loopback_address INTEGER NOT NULL DEFAULT 0,
	domain_enabled        INTEGER NOT NULL DEFAULT 0,
	http_logs_enabled        INTEGER NOT NULL DEFAULT 0,
	http_logs_max_file_size  INTEGER NOT NULL DEFAULT 10485760,
	http_logs_retention_days INTEGER NOT NULL DEFAULT 7,
	http_logs_auto_cleanup   INTEGER NOT NULL DEFAULT 1,
	exposure_type         TEXT    NOT NULL DEFAULT '',
	cert_manager_enabled  INTEGER NOT NULL DEFAULT 0,
	cert_issuer           TEXT    NOT NULL DEFAULT '',
	cert_issuer_kind      TEXT    NOT NULL DEFAULT '',
	ingress_class         TEXT    NOT NULL DEFAULT '',
	ingress_annotations   TEXT    NOT NULL DEFAULT ''
);
CREATE TABLE settings (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
INSERT INTO configs (alias, context, namespace, workload_type, protocol, service, remote_port, local_port,
	http_logs_enabled, http_logs_max_file_size, http_logs_retention_days, http_logs_auto_cleanup)
	VALUES ('web', 'dev', 'default', 'service', 'tcp', 'web', 80, 8080, 1, 20971520, 14, 0);
INSERT INTO configs (alias, namespace, workload_type, protocol, target, remote_port,
	domain_enabled, ingress_annotations)
	VALUES ('api-pod', 'staging', 'pod', 'tcp', 'app=api', 9000, 1, '{"a":"b"}');
INSERT INTO settings (key, value) VALUES ('theme', 'dark');
PRAGMA user_version = 1;
