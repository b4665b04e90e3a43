CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
-- Every mail or trigger file seen, and what became of it.
CREATE TABLE IF NOT EXISTS messages (
    id         INTEGER PRIMARY KEY,
    source     TEXT NOT NULL,          -- imap:<folder>, maildir, triggers
    source_key TEXT NOT NULL,          -- IMAP: Message-ID, else <uidvalidity>:<uid>;
                                       -- Maildir key; trigger file name
    message_id TEXT,
    kind       TEXT NOT NULL,          -- request, twin, malformed, ignored, shunted, untrusted
    request    INTEGER,                -- for a twin: the request it is a copy of
    reason     TEXT,
    subject    TEXT,
    sender     TEXT,
    received   TEXT NOT NULL,
    recorded   TEXT NOT NULL,
    marked     INTEGER NOT NULL DEFAULT 0,  -- source flagged/moved (requests only)
    raw        BLOB,                   -- kept for shunted mails, for AOG to look at
    UNIQUE (source, source_key)
);
CREATE TABLE IF NOT EXISTS requests (
    id          INTEGER PRIMARY KEY,
    message     INTEGER REFERENCES messages(id),
    mous        TEXT NOT NULL,
    project     TEXT NOT NULL,
    calfields   TEXT NOT NULL,         -- comma separated, as stagecalms takes them
    user_name   TEXT NOT NULL,
    user_email  TEXT NOT NULL,
    ticket      TEXT NOT NULL,
    arc_contact TEXT NOT NULL,
    cc          TEXT NOT NULL,         -- JSON list
    message_id  TEXT,
    received    TEXT NOT NULL,
    origin      TEXT NOT NULL,         -- JSON: what replies need to thread and quote
    verdict     TEXT NOT NULL,         -- VerdictCode
    check_name  TEXT NOT NULL,         -- the check that decided
    detail      TEXT NOT NULL,         -- JSON
    state       TEXT NOT NULL,         -- answered, staging, completed, failed, cancelled
    created     TEXT NOT NULL,
    updated     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS requests_state ON requests(state);
CREATE TABLE IF NOT EXISTS jobs (
    id            INTEGER PRIMARY KEY,
    request       INTEGER NOT NULL REFERENCES requests(id),
    attempt       INTEGER NOT NULL DEFAULT 1,
    state         TEXT NOT NULL,       -- waiting, running, succeeded, failed, cancelled
    command       TEXT NOT NULL,
    job_dir       TEXT,
    pid           INTEGER,
    queued        TEXT NOT NULL,
    started       TEXT,
    finished      TEXT,
    exit_status   INTEGER,
    output        TEXT,
    url           TEXT,
    deletion_date TEXT,
    total_bytes   INTEGER,
    problems      TEXT
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
CREATE TABLE IF NOT EXISTS outbox (
    id         INTEGER PRIMARY KEY,
    message_id TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL,
    message    INTEGER REFERENCES messages(id),  -- the mail that caused it
    request    INTEGER REFERENCES requests(id),
    job        INTEGER REFERENCES jobs(id),
    mail_from  TEXT NOT NULL,
    rcpt_to    TEXT NOT NULL,          -- JSON list, Bcc included (envelope only)
    subject    TEXT NOT NULL,
    data       BLOB NOT NULL,
    state      TEXT NOT NULL,          -- queued, held, sent, failed, discarded
    created    TEXT NOT NULL,
    sent       TEXT,
    attempts   INTEGER NOT NULL DEFAULT 0,
    error      TEXT,
    copied     INTEGER NOT NULL DEFAULT 0  -- review copy stored for AOG
);
CREATE INDEX IF NOT EXISTS outbox_state ON outbox(state);
CREATE TABLE IF NOT EXISTS imap_state (
    folder      TEXT PRIMARY KEY,
    uidvalidity INTEGER NOT NULL,
    last_uid    INTEGER NOT NULL
);

-- Rows as mailbot wrote them before numbered migrations (the schema above is
-- verbatim that version's, with meta.schema_version = 1 and no schema_migrations).
INSERT INTO meta(key, value) VALUES ('schema_version', '1'), ('instance', 'cafe0001'),
    ('cutover', '2024-01-01T00:00:00+00:00');
INSERT INTO messages(id, source, source_key, message_id, kind, request, reason, subject, sender,
                     received, recorded, marked, raw) VALUES
    (1, 'maildir', '1709283600.M1.host', '<req-1@example.org>', 'request', NULL, NULL,
     'ALMA: REQUEST FOR CALIBRATED DATA MOUS uid___A001_X1296_X675', 'arc.contact@example.org',
     '2024-03-01T09:00:00+00:00', '2024-03-01T09:01:00+00:00', 1, NULL),
    (2, 'maildir', '1709287200.M2.host', '<bad-1@example.org>', 'malformed', NULL,
     'no helpdesk ticket number', 'ALMA: REQUEST', 'arc.contact@example.org',
     '2024-03-01T10:00:00+00:00', '2024-03-01T10:01:00+00:00', 1, NULL),
    (3, 'imap:INBOX', '<broken-1@example.org>', '<broken-1@example.org>', 'shunted', NULL,
     'ValueError: bug', NULL, NULL, '2024-03-01T11:00:00+00:00', '2024-03-01T11:01:00+00:00', 0,
     X'46726f6d3a20736f6d656f6e65406578616d706c652e6f72670d0a5375626a6563743a2062726f6b656e20726571756573740d0a0d0a626f64790d0a');
INSERT INTO requests(id, message, mous, project, calfields, user_name, user_email, ticket,
                     arc_contact, cc, message_id, received, origin, verdict, check_name,
                     detail, state, created, updated) VALUES
    (1, 1, 'uid://A001/X1296/X675', '2017.1.00727.S', 'J0510+1800', 'Judit Szulagyi',
     'judit@example.org', '16140', 'ARC Contact <arc.contact@example.org>', '[]',
     '<req-1@example.org>', '2024-03-01T09:00:00+00:00',
     '{"channel": "mail", "sender": "arc.contact@example.org", "sender_name": "ARC Contact", "reply_to": [], "to": ["aog@example.org"], "cc": [], "subject": "ALMA: REQUEST FOR CALIBRATED DATA MOUS uid___A001_X1296_X675", "message_id": "<req-1@example.org>", "references": [], "date": "2024-03-01T09:00:00+00:00", "text": "please create the calibrated MS"}',
     'STAGE', 'entitled', '{"role": "PI"}', 'staging', '2024-03-01T09:01:00+00:00',
     '2024-03-01T09:05:00+00:00');
INSERT INTO jobs(id, request, attempt, state, command, job_dir, pid, queued, started) VALUES
    (1, 1, 1, 'running', 'stagecalms.sh uid___A001_X1296_X675', '/staging/job-cafe0001-1-1',
     4242, '2024-03-01T09:01:00+00:00', '2024-03-01T09:05:00+00:00');
INSERT INTO outbox(id, message_id, kind, message, request, job, mail_from, rcpt_to, subject,
                   data, state, created, sent, attempts, error, copied) VALUES
    (1, '<mailbot.malformed.1@example.org>', 'malformed', 2, NULL, NULL, 'aog@example.org',
     '["arc.contact@example.org"]', 'Re: request', X'46726f6d3a20616f67406578616d706c652e6f72670d0a546f3a206172632e636f6e74616374406578616d706c652e6f72670d0a5375626a6563743a2052653a20726571756573740d0a4d6573736167652d49443a203c6d61696c626f742e6d616c666f726d65642e31406578616d706c652e6f72673e0d0a0d0a70726f626c656d730d0a', 'sent',
     '2024-03-01T10:01:00+00:00', '2024-03-01T10:02:00+00:00', 1, NULL, 1);
INSERT INTO imap_state(folder, uidvalidity, last_uid) VALUES ('INBOX', 42, 17);
