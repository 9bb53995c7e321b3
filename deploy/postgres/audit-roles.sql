-- PostgreSQL roles for the querynode audit trail (README "Security", issue 18).
-- Run once as the owner of the audit tables, after the schema exists (start one node, or run
-- `querynode audit verify`, as the owner role: it creates the tables, triggers and function).
-- Replace querynode_audit with audit.postgres_table if you changed it.
--
-- The node role may only add and read records: no UPDATE, DELETE, TRUNCATE, no anchors, no DDL.
-- The purge role (`audit.purge_dsn`, used by `querynode audit purge`) may delete records, and
-- only those a new anchor covers (the trigger refuses the rest); it cannot change any.
-- Neither owns the tables, so neither can drop or disable the triggers.

CREATE ROLE querynode_node LOGIN;   -- set a password or use certificate auth (pg_hba.conf)
CREATE ROLE querynode_purge LOGIN;

GRANT SELECT, INSERT ON querynode_audit TO querynode_node;
GRANT SELECT ON querynode_audit_anchor TO querynode_node;
GRANT USAGE ON SEQUENCE querynode_audit_seq_seq TO querynode_node;

GRANT SELECT, DELETE ON querynode_audit TO querynode_purge;
GRANT SELECT, INSERT ON querynode_audit_anchor TO querynode_purge;
GRANT USAGE ON SEQUENCE querynode_audit_anchor_id_seq TO querynode_purge;
