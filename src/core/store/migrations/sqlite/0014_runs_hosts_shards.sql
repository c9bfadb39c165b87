-- fks store, version 14: several hosts sharing one store (issue 16).
-- The shard of a run (`K/N`, NULL when unsharded), the last heartbeat of a running job (wall
-- clock ms), and on Postgres the server session that ran it (backend pid and start), so a run
-- killed on another host is recognised from any host.
ALTER TABLE task_runs ADD COLUMN shard TEXT;
ALTER TABLE task_runs ADD COLUMN heartbeat_ms BIGINT;
ALTER TABLE task_runs ADD COLUMN session TEXT;
CREATE INDEX task_runs_running ON task_runs (status) WHERE status = 'running';
