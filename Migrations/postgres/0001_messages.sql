-- Rooms and their messages, as in the SQLite schema (Migrations/0001-0003), for several nodes on
-- one PostgreSQL database.
--
-- `rooms.last_id` is the room's sequence. `parley_append` takes each room's row lock and advances
-- it in the same transaction as the inserts, so the ids a reader can see are always a contiguous
-- prefix 1..N of the room, whichever node wrote them.
CREATE TABLE rooms (
    name text PRIMARY KEY,
    last_id bigint NOT NULL DEFAULT 0 CHECK (last_id >= 0)
);

CREATE TABLE messages (
    seq bigserial PRIMARY KEY,
    room text NOT NULL REFERENCES rooms (name),
    id bigint NOT NULL CHECK (id > 0),
    nick text NOT NULL,
    text text NOT NULL,
    created_at bigint NOT NULL,
    mid text,
    -- Whole words, case-insensitively ('simple': no stemming, no stop words, any script).
    search tsvector GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED,
    UNIQUE (room, id)
);

CREATE UNIQUE INDEX messages_room_mid ON messages (room, mid) WHERE mid IS NOT NULL;
CREATE INDEX messages_created_at ON messages (created_at);
CREATE INDEX messages_search ON messages USING gin (search);

-- Stores a batch of drafts in order, in one statement: returns one row per draft, the stored
-- message, or for a `mid` its room already holds, that message (r_is_new false). An empty mid
-- means none. Rooms are locked in name order, so two nodes never deadlock on a batch.
CREATE FUNCTION parley_append(p_rooms text[], p_nicks text[], p_texts text[], p_created bigint[], p_mids text[])
RETURNS TABLE (r_room text, r_id bigint, r_nick text, r_text text, r_created_at bigint, r_mid text, r_is_new boolean)
LANGUAGE plpgsql AS $$
DECLARE
    i int;
    found_message messages%ROWTYPE;
    next_id bigint;
    draft_mid text;
BEGIN
    INSERT INTO rooms (name) SELECT DISTINCT unnest(p_rooms) ORDER BY 1 ON CONFLICT DO NOTHING;
    PERFORM 1 FROM rooms WHERE rooms.name = ANY (p_rooms) ORDER BY rooms.name FOR UPDATE;
    FOR i IN 1 .. coalesce(array_length(p_rooms, 1), 0) LOOP
        draft_mid := NULLIF(p_mids[i], '');
        IF draft_mid IS NOT NULL THEN
            SELECT * INTO found_message FROM messages WHERE messages.room = p_rooms[i] AND messages.mid = draft_mid;
            IF FOUND THEN
                r_room := found_message.room; r_id := found_message.id; r_nick := found_message.nick;
                r_text := found_message.text; r_created_at := found_message.created_at;
                r_mid := found_message.mid; r_is_new := false;
                RETURN NEXT;
                CONTINUE;
            END IF;
        END IF;
        UPDATE rooms SET last_id = rooms.last_id + 1 WHERE rooms.name = p_rooms[i] RETURNING rooms.last_id INTO next_id;
        INSERT INTO messages (room, id, nick, text, created_at, mid)
            VALUES (p_rooms[i], next_id, p_nicks[i], p_texts[i], p_created[i], draft_mid);
        r_room := p_rooms[i]; r_id := next_id; r_nick := p_nicks[i]; r_text := p_texts[i];
        r_created_at := p_created[i]; r_mid := draft_mid; r_is_new := true;
        RETURN NEXT;
    END LOOP;
END
$$;
