-- pipeline-deps PostgreSQL schema, version 1. Applied once, in one transaction, under the
-- advisory lock of `src/pg/migrate.rs`, which then records the version in pd_meta.
-- Never edit this file after it is released: a change is a new numbered file.

CREATE TABLE pd_meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);

-- One row per context. The identity column gives creation order and is never reused, so
-- a handle taken before a clear can tell its context was cleared (also when it was created
-- again under the same name). The counters and the revision change in the same transaction
-- as the specs they describe.
CREATE TABLE pd_contexts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text   NOT NULL UNIQUE,
    step_count      bigint NOT NULL DEFAULT 0 CHECK (step_count >= 0),
    step_type_count bigint NOT NULL DEFAULT 0 CHECK (step_type_count >= 0),
    revision        bigint NOT NULL DEFAULT 0,
    next_position   bigint NOT NULL DEFAULT 0
);

-- The specifications. `record` holds the same versioned postcard record the redb store
-- keeps (src/codec.rs, `StepRecordV1`), whose seq equals `position`.
CREATE TABLE pd_specs (
    context_id bigint NOT NULL REFERENCES pd_contexts (id) ON DELETE CASCADE,
    step_name  text   NOT NULL,
    position   bigint NOT NULL,
    step_type  text   NOT NULL,
    record     bytea  NOT NULL,
    PRIMARY KEY (context_id, step_name)
);
CREATE INDEX pd_specs_by_type ON pd_specs (context_id, step_type, position);
CREATE INDEX pd_specs_by_position ON pd_specs (context_id, position);

-- The step-type index: each type's first-seen position and how many steps have it.
CREATE TABLE pd_step_types (
    context_id     bigint NOT NULL REFERENCES pd_contexts (id) ON DELETE CASCADE,
    step_type      text   NOT NULL,
    first_position bigint NOT NULL,
    step_count     bigint NOT NULL CHECK (step_count >= 0),
    PRIMARY KEY (context_id, step_type)
);
