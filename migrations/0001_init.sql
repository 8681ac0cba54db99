-- zakadrom schema, version 1.
-- Times are INTEGER unix milliseconds (UTC) in every column named *_at; one rule everywhere.
-- States are lower-case words, checked by CHECK constraints.

-- Every update taken from VK, under its dedup key: a repeat of the same key is ignored.
CREATE TABLE updates (
  dedup_key   TEXT PRIMARY KEY,           -- 'message:<peer_id>:<conversation_message_id>'
  event_id    TEXT,                       -- VK's event_id when the transport gives one
  peer_id     INTEGER NOT NULL,
  from_id     INTEGER NOT NULL,
  outcome     TEXT NOT NULL CHECK (outcome IN ('application', 'no_photo', 'hint', 'ignored', 'over_limit')),
  received_at INTEGER NOT NULL
) WITHOUT ROWID;

-- One row per "подать заявку" message that carried at least one photo.
CREATE TABLE applications (
  id                      INTEGER PRIMARY KEY,
  peer_id                 INTEGER NOT NULL,
  from_id                 INTEGER NOT NULL,
  conversation_message_id INTEGER NOT NULL,
  message_id              INTEGER NOT NULL,   -- 0 in chats, where VK gives bots no global id
  -- analysing: photos still waiting; analysed: every photo done and the result message queued
  -- (whether it reached the user is the outbox row's state)
  state                   TEXT NOT NULL CHECK (state IN ('analysing', 'analysed')),
  photo_count             INTEGER NOT NULL CHECK (photo_count BETWEEN 1 AND 50),   -- analysed
  photos_received         INTEGER NOT NULL,   -- in the message; above photo_count the rest were left out
  sent_at                 INTEGER NOT NULL,   -- the message's date as VK gave it
  received_at             INTEGER NOT NULL,
  analysed_at             INTEGER             -- when the result message was queued
);
-- Not unique: message numbers repeat across VK worlds (see updates.dedup_key, which decides).
CREATE INDEX applications_message ON applications (peer_id, conversation_message_id);
CREATE INDEX applications_state ON applications (state, received_at);
CREATE INDEX applications_from ON applications (from_id, received_at);

-- Each photo of an application, with its findings once analysed.
CREATE TABLE photos (
  id               INTEGER PRIMARY KEY,
  application_id   INTEGER NOT NULL REFERENCES applications (id),
  position         INTEGER NOT NULL,            -- 1-based order in the message
  origin           TEXT NOT NULL CHECK (origin IN ('attachment', 'reply', 'forward', 'document')),
  url              TEXT NOT NULL,               -- the largest size VK offered
  state            TEXT NOT NULL CHECK (state IN ('waiting', 'analysed', 'failed')),
  verdict          TEXT CHECK (verdict IN ('ok', 'retake')),
  reasons          TEXT,                        -- comma-separated retake reasons and warnings
  failure_reason   TEXT,                        -- too_large, unsupported_format, corrupt, ...
  failure_detail   TEXT,
  format           TEXT,
  bytes            INTEGER,
  width            INTEGER,                     -- upright, after EXIF orientation
  height           INTEGER,
  mean_luma        REAL,
  sharpness        REAL,
  phash            TEXT,                        -- 16 hex digits; NULL for flat images
  duplicate_of     INTEGER REFERENCES photos (id),
  camera           TEXT,
  taken_at         TEXT,                        -- EXIF DateTimeOriginal as written in the file
  has_gps          INTEGER CHECK (has_gps IN (0, 1)),
  metrics_json     TEXT,                        -- every metric, for inspection
  analysed_at      INTEGER,
  UNIQUE (application_id, position)
);
CREATE INDEX photos_phash ON photos (phash) WHERE phash IS NOT NULL;

-- The durable job queue: a generic layer, the photo analysis is its first user.
CREATE TABLE jobs (
  id               INTEGER PRIMARY KEY,
  kind             TEXT NOT NULL,
  payload          TEXT NOT NULL,               -- JSON
  state            TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
  run_at           INTEGER NOT NULL,            -- not before this time
  attempts         INTEGER NOT NULL DEFAULT 0,  -- claims so far, including one that died
  max_attempts     INTEGER NOT NULL,
  lease_token      TEXT,                        -- fencing token of the current claim
  lease_expires_at INTEGER,
  last_error       TEXT,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  finished_at      INTEGER
);
CREATE INDEX jobs_due ON jobs (run_at, id) WHERE state = 'queued';
CREATE INDEX jobs_leased ON jobs (lease_expires_at) WHERE state = 'running';

-- Messages to send, each with the random_id fixed at creation so VK drops repeats.
-- A text longer than VK takes goes out in parts of at most part_limit characters; sent_chars
-- says how much of it VK has already accepted, so parts survive restarts in order.
CREATE TABLE outbox (
  id               INTEGER PRIMARY KEY,
  peer_id          INTEGER NOT NULL,
  random_id        INTEGER NOT NULL,            -- of the first part; later parts derive theirs
  message          TEXT NOT NULL,
  part_limit       INTEGER NOT NULL CHECK (part_limit > 0),
  sent_chars       INTEGER NOT NULL DEFAULT 0,
  purpose          TEXT NOT NULL CHECK (purpose IN ('ack', 'result', 'no_photo', 'hint', 'over_limit')),
  application_id   INTEGER REFERENCES applications (id),
  state            TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'undeliverable', 'failed')),
  attempts         INTEGER NOT NULL DEFAULT 0,
  next_attempt_at  INTEGER NOT NULL,
  last_error_code  INTEGER,
  last_error       TEXT,
  vk_message_id    INTEGER,                     -- of the last part sent
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  sent_at          INTEGER
);
CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX outbox_application ON outbox (application_id);
-- For "did this user get a hint lately", asked on every private message that is not an application.
CREATE INDEX outbox_peer_purpose ON outbox (peer_id, purpose, created_at);

-- Small named values the bot keeps between runs (e.g. the long-poll position).
CREATE TABLE bot_state (
  key        TEXT PRIMARY KEY,
  value      TEXT NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX outbox_peer_pending ON outbox (peer_id, id) WHERE state = 'pending';
