-- Rooms and their messages.
--
-- `rooms.last_id` is the room's sequence: the id of the newest message ever stored there. It
-- lives apart from `messages` so that pruning old messages never lets an id be reused, which
-- would make a reconnecting client's `since` skip new messages.
CREATE TABLE rooms (
    name TEXT NOT NULL PRIMARY KEY,
    last_id INTEGER NOT NULL DEFAULT 0 CHECK (last_id >= 0)
);

-- `seq` orders every message across rooms in commit order (for following the log as a whole);
-- `id` is the message's position within its room.
CREATE TABLE messages (
    seq INTEGER PRIMARY KEY,
    room TEXT NOT NULL REFERENCES rooms(name),
    id INTEGER NOT NULL CHECK (id > 0),
    nick TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (room, id)
);
