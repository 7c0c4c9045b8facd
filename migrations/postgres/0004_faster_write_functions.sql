-- pipeline-deps PostgreSQL schema, version 4: faster write functions. A single step is
-- stored by a function of its own, pd_put_step, which takes the context's lock with the
-- update of its counters; pd_put_steps (batches) counts a batch's steps per type once, at
-- the end of the call, instead of updating a type's row for every step. The tables are
-- unchanged, pd_put_steps keeps its signature, and both leave exactly the rows version 3
-- left (`the_write_functions_leave_exactly_what_the_step_by_step_writer_leaves`).
-- Applied once, in one transaction, under the advisory lock of `src/pg/migrate.rs`.
-- Never edit this file after it is released: a change is a new numbered file.
--
-- Why pd_put_step: version 3 stored one step with pd_put_steps, which unpacks three
-- arrays, locks the catalog row with SELECT ... FOR UPDATE and updates it at the end.
-- Scalar parameters and one UPDATE that both locks and counts (the common case: a new step
-- of a known type) took a fifth to a quarter less server time per call (pgbench, fsync off,
-- 2026-12-01: about 0.16 ms against 0.12 ms; docs/postgres.md).
--
-- Why the batch change: every update of a row makes a new version of it, and none can be
-- pruned inside the transaction, so each later update of the same row follows a longer
-- chain. A call storing n steps of a few types was quadratic: 10,000 steps of 50 types
-- took 0.75 s, 20,000 took 2.5 s and 40,000 took 7.6 s (fsync off; docs/postgres.md).
-- Now a new step whose type is already indexed only notes the type; the notes become one
-- UPDATE per type when the call ends. A new type is inserted at once with its count (its
-- position is the one after its first step, as before). A replaced step that changes type
-- first applies the notes, since the index must be exact before a type can lose its last
-- step.

-- Adds to each type's count in context p_context how often p_types names it: one UPDATE of
-- each type's row, whatever the number of steps. Every type named has a row.
CREATE FUNCTION pd_count_noted_types(p_context bigint, p_types text[]) RETURNS void
LANGUAGE sql AS $$
    UPDATE pd_step_types t SET step_count = t.step_count + d.steps
        FROM (SELECT step_type, count(*) AS steps FROM unnest(p_types) AS u(step_type)
              GROUP BY step_type) d
        WHERE t.context_id = p_context AND t.step_type = d.step_type;
$$;

CREATE OR REPLACE FUNCTION pd_put_steps(p_name text, p_id bigint, p_replace boolean,
                                        p_steps text[], p_types text[], p_tails bytea[])
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    ctx pd_contexts;
    n integer := coalesce(array_length(p_steps, 1), 0);
    old_position bigint;
    old_type text;
    inserted bigint := 0;
    -- The types of new steps whose type row already existed, not yet counted.
    noted text[] := '{}';
BEGIN
    IF coalesce(array_length(p_types, 1), 0) <> n OR coalesce(array_length(p_tails, 1), 0) <> n
    THEN
        RAISE EXCEPTION 'pd_put_steps: the arrays differ in length';
    END IF;
    -- As pd_lock_context.
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION USING ERRCODE = 'PD004',
            MESSAGE = 'pipeline-deps writes run at READ COMMITTED, not '
                || current_setting('transaction_isolation');
    END IF;
    SELECT * INTO ctx FROM pd_contexts WHERE name = p_name FOR UPDATE;
    IF NOT FOUND OR ctx.id <> p_id THEN
        RAISE EXCEPTION USING ERRCODE = 'PD002', MESSAGE = 'the context was cleared';
    END IF;
    FOR i IN 1 .. n LOOP
        -- A new step (the context's lock keeps other writers of these keys out).
        INSERT INTO pd_specs (context_id, step_name, position, step_type, record)
            VALUES (ctx.id, p_steps[i], ctx.next_position, p_types[i],
                    pd_step_record(ctx.next_position, p_tails[i]))
            ON CONFLICT (context_id, step_name) DO NOTHING;
        IF FOUND THEN
            ctx.next_position := ctx.next_position + 1;
            ctx.step_count := ctx.step_count + 1;
            inserted := inserted + 1;
            IF EXISTS (SELECT 1 FROM pd_step_types
                                 WHERE context_id = ctx.id AND step_type = p_types[i]) THEN
                noted := noted || p_types[i];
                CONTINUE;
            END IF;
            -- As pd_index_type.
            UPDATE pd_step_types SET step_count = step_count + 1
                WHERE context_id = ctx.id AND step_type = p_types[i];
            IF NOT FOUND THEN
                INSERT INTO pd_step_types (context_id, step_type, first_position, step_count)
                    VALUES (ctx.id, p_types[i], ctx.next_position, 1);
                ctx.next_position := ctx.next_position + 1;
                ctx.step_type_count := ctx.step_type_count + 1;
            END IF;
            CONTINUE;
        END IF;
        -- The name is taken.
        IF NOT p_replace THEN
            RAISE EXCEPTION USING ERRCODE = 'PD001', MESSAGE = 'the step name is taken',
                DETAIL = i::text;
        END IF;
        SELECT s.position, s.step_type INTO old_position, old_type FROM pd_specs s
            WHERE s.context_id = ctx.id AND s.step_name = p_steps[i];
        IF old_type <> p_types[i] THEN
            IF cardinality(noted) > 0 THEN
                PERFORM pd_count_noted_types(ctx.id, noted);
                noted := '{}';
            END IF;
            ctx := pd_unindex_type(ctx, old_type, p_steps[i]);
            ctx := pd_index_type(ctx, p_types[i]);
        END IF;
        UPDATE pd_specs SET step_type = p_types[i],
                            record = pd_step_record(old_position, p_tails[i])
            WHERE context_id = ctx.id AND step_name = p_steps[i];
    END LOOP;
    IF cardinality(noted) > 0 THEN
        PERFORM pd_count_noted_types(ctx.id, noted);
    END IF;
    UPDATE pd_contexts SET step_count = ctx.step_count, step_type_count = ctx.step_type_count,
                           next_position = ctx.next_position, revision = ctx.revision + 1
        WHERE id = ctx.id;
    RETURN inserted;
END
$$;

-- Stores step p_step (type p_type, record tail p_tail) in context p_name (id p_id), exactly
-- as pd_put_steps does for one step (PD001 with DETAIL 1 for a taken name unless
-- p_replace, PD002 for a cleared context, PD004 outside READ COMMITTED). Returns 1 if the
-- step was new, 0 if it replaced one.
CREATE FUNCTION pd_put_step(p_name text, p_id bigint, p_replace boolean,
                            p_step text, p_type text, p_tail bytea)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    ctx pd_contexts;
    old_position bigint;
    old_type text;
BEGIN
    -- As pd_lock_context.
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION USING ERRCODE = 'PD004',
            MESSAGE = 'pipeline-deps writes run at READ COMMITTED, not '
                || current_setting('transaction_isolation');
    END IF;
    -- Locks the catalog row (writers of one context take turns) and counts a new step, the
    -- common case; the other paths correct the counters below. A failure rolls it back.
    UPDATE pd_contexts SET step_count = step_count + 1, next_position = next_position + 1,
                           revision = revision + 1
        WHERE name = p_name
        RETURNING * INTO ctx;
    IF NOT FOUND OR ctx.id <> p_id THEN
        RAISE EXCEPTION USING ERRCODE = 'PD002', MESSAGE = 'the context was cleared';
    END IF;
    -- ctx.next_position is now one past the new step's position.
    INSERT INTO pd_specs (context_id, step_name, position, step_type, record)
        VALUES (ctx.id, p_step, ctx.next_position - 1, p_type,
                pd_step_record(ctx.next_position - 1, p_tail))
        ON CONFLICT (context_id, step_name) DO NOTHING;
    IF FOUND THEN
        UPDATE pd_step_types SET step_count = step_count + 1
            WHERE context_id = ctx.id AND step_type = p_type;
        IF NOT FOUND THEN
            -- A new type takes the position after its first step.
            INSERT INTO pd_step_types (context_id, step_type, first_position, step_count)
                VALUES (ctx.id, p_type, ctx.next_position, 1);
            UPDATE pd_contexts SET next_position = next_position + 1,
                                   step_type_count = step_type_count + 1
                WHERE id = ctx.id;
        END IF;
        RETURN 1;
    END IF;
    -- The name is taken.
    IF NOT p_replace THEN
        RAISE EXCEPTION USING ERRCODE = 'PD001', MESSAGE = 'the step name is taken',
            DETAIL = '1';
    END IF;
    ctx.step_count := ctx.step_count - 1;
    ctx.next_position := ctx.next_position - 1;
    SELECT s.position, s.step_type INTO old_position, old_type FROM pd_specs s
        WHERE s.context_id = ctx.id AND s.step_name = p_step;
    IF old_type <> p_type THEN
        ctx := pd_unindex_type(ctx, old_type, p_step);
        ctx := pd_index_type(ctx, p_type);
    END IF;
    UPDATE pd_specs SET step_type = p_type, record = pd_step_record(old_position, p_tail)
        WHERE context_id = ctx.id AND step_name = p_step;
    UPDATE pd_contexts SET step_count = ctx.step_count, step_type_count = ctx.step_type_count,
                           next_position = ctx.next_position
        WHERE id = ctx.id;
    RETURN 0;
END
$$;
