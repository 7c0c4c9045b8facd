-- pipeline-deps PostgreSQL schema, version 2: server-side functions that make a write one
-- statement (one round trip) instead of one statement per step of it. Applied once, in one
-- transaction, under the advisory lock of `src/pg/migrate.rs`. Tables are unchanged.
-- Never edit this file after it is released: a change is a new numbered file.
--
-- Errors these functions raise (mapped in `src/pg/write.rs`):
--   PD001  a step name is taken (and p_replace is false); DETAIL: the item's 1-based index
--   PD002  the context was cleared (missing, or it has another id than the caller's handle)
--   PD003  the step-type index does not list a stored step's type (corruption)
--   PD004  the transaction is not READ COMMITTED (the locking design relies on it)

-- The stored record of a step: postcard's `Envelope::V1` tag (0), the registration
-- position as an unsigned LEB128 varint, then the rest of the record as encoded by the
-- client (`codec::encode_step_tail`). Byte-identical to `codec::encode_step`.
CREATE FUNCTION pd_step_record(p_position bigint, p_tail bytea) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
    v bigint := p_position;
    head bytea := decode('00', 'hex');
BEGIN
    IF v < 0 THEN
        RAISE EXCEPTION 'a step position is negative (%)', v;
    END IF;
    WHILE v >= 128 LOOP
        head := head || set_byte(decode('00', 'hex'), 0, ((v & 127) | 128)::int);
        v := v >> 7;
    END LOOP;
    RETURN head || set_byte(decode('00', 'hex'), 0, v::int) || p_tail;
END
$$;

-- Locks context p_name's catalog row for the rest of the transaction (writers of one
-- context take turns) and returns it, if it still has id p_id; otherwise raises PD002.
CREATE FUNCTION pd_lock_context(p_name text, p_id bigint) RETURNS pd_contexts
LANGUAGE plpgsql AS $$
DECLARE
    ctx pd_contexts;
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION USING ERRCODE = 'PD004',
            MESSAGE = 'pipeline-deps writes run at READ COMMITTED, not '
                || current_setting('transaction_isolation');
    END IF;
    SELECT * INTO ctx FROM pd_contexts WHERE name = p_name FOR UPDATE;
    IF NOT FOUND OR ctx.id <> p_id THEN
        RAISE EXCEPTION USING ERRCODE = 'PD002', MESSAGE = 'the context was cleared';
    END IF;
    RETURN ctx;
END
$$;

-- Counts one more step of p_type in ctx's index; a new type takes the next position.
CREATE FUNCTION pd_index_type(INOUT ctx pd_contexts, p_type text)
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE pd_step_types SET step_count = step_count + 1
        WHERE context_id = ctx.id AND step_type = p_type;
    IF NOT FOUND THEN
        INSERT INTO pd_step_types (context_id, step_type, first_position, step_count)
            VALUES (ctx.id, p_type, ctx.next_position, 1);
        ctx.next_position := ctx.next_position + 1;
        ctx.step_type_count := ctx.step_type_count + 1;
    END IF;
END
$$;

-- Counts one step of p_type less in ctx's index, removing the type when none is left.
CREATE FUNCTION pd_unindex_type(INOUT ctx pd_contexts, p_type text, p_step text)
LANGUAGE plpgsql AS $$
DECLARE
    remaining bigint;
BEGIN
    UPDATE pd_step_types SET step_count = step_count - 1
        WHERE context_id = ctx.id AND step_type = p_type
        RETURNING step_count INTO remaining;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'PD003',
            MESSAGE = format('step %s has type %s that the index does not list',
                             left(p_step, 80), left(p_type, 80));
    END IF;
    IF remaining = 0 THEN
        DELETE FROM pd_step_types WHERE context_id = ctx.id AND step_type = p_type;
        ctx.step_type_count := ctx.step_type_count - 1;
    END IF;
END
$$;

-- Stores the steps p_steps[i] (type p_types[i], record tail p_tails[i]) in context p_name
-- (id p_id), in order, with the same rules as `PgContextWriter::put`: a taken name raises
-- PD001 unless p_replace (a replaced step keeps its position; the type index moves it if
-- its type changed); a new step takes the next position, and a new type the one after.
-- Writes the counters and a new revision to the catalog row. Returns how many steps were
-- new (the others replaced one). The path of a new step is written out here rather than
-- through the helpers above: it is the hot one, and each plpgsql call costs.
CREATE FUNCTION pd_put_steps(p_name text, p_id bigint, p_replace boolean,
                             p_steps text[], p_types text[], p_tails bytea[])
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    ctx pd_contexts;
    n integer := coalesce(array_length(p_steps, 1), 0);
    old_position bigint;
    old_type text;
    inserted bigint := 0;
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
            ctx := pd_unindex_type(ctx, old_type, p_steps[i]);
            ctx := pd_index_type(ctx, p_types[i]);
        END IF;
        UPDATE pd_specs SET step_type = p_types[i],
                            record = pd_step_record(old_position, p_tails[i])
            WHERE context_id = ctx.id AND step_name = p_steps[i];
    END LOOP;
    UPDATE pd_contexts SET step_count = ctx.step_count, step_type_count = ctx.step_type_count,
                           next_position = ctx.next_position, revision = ctx.revision + 1
        WHERE id = ctx.id;
    RETURN inserted;
END
$$;

-- Removes step p_step from context p_name (id p_id), with the same rules as
-- `PgContextWriter::remove`, and writes the counters and a new revision (also when the
-- step was not there). Returns whether it was there.
CREATE FUNCTION pd_remove_step(p_name text, p_id bigint, p_step text)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    ctx pd_contexts := pd_lock_context(p_name, p_id);
    old_type text;
    removed boolean;
BEGIN
    DELETE FROM pd_specs WHERE context_id = ctx.id AND step_name = p_step
        RETURNING step_type INTO old_type;
    removed := FOUND;
    IF removed THEN
        ctx := pd_unindex_type(ctx, old_type, p_step);
        ctx.step_count := ctx.step_count - 1;
    END IF;
    UPDATE pd_contexts SET step_count = ctx.step_count, step_type_count = ctx.step_type_count,
                           revision = ctx.revision + 1
        WHERE id = ctx.id;
    RETURN removed;
END
$$;
