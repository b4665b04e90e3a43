-- The fields (sources) observed for one MOUS, and which are calibrators.
-- Binds:   :mous  the MOUS UID in URI form
-- Returns: rows (field_name, is_calibrator[, intents]); is_calibrator 1 or 0
--          (Y/N and true/false are read too; NULL is 0). A field may come on
--          several rows: it is a calibrator only when EVERY row of it says so.
--          intents (optional) is shown by `mailbot explain`.
-- Fails closed: calibrator data is public at once, so a row is a calibrator
-- only when it HAS intents and none of them is a target intent. The archive
-- spells a science target TARGET (asa_science, obscore); ASDM/CASA spell it
-- OBSERVE_TARGET, often with a sub-intent (OBSERVE_TARGET#ON_SOURCE): any
-- intent containing TARGET, in any case, is a target (no calibration intent
-- contains that word). NULL, empty or blank intents: science.
-- INSTR, not LIKE: "_" is a LIKE wildcard, and LIKE's case rules differ
-- between Oracle and SQLite. LENGTH(TRIM(NULL or blank)) is NULL on Oracle
-- (where '' is NULL) and NULL or 0 on SQLite: "> 0" is false on both.
-- To check first on the production archive: that asa_science has rows for
-- the calibrators too (not only the science targets) and how scan_intent
-- is spelled there; `mailbot explain MOUS` shows both.
SELECT s.source_name AS field_name,
       s.scan_intent AS intents,
       CASE WHEN LENGTH(TRIM(s.scan_intent)) > 0
             AND INSTR(UPPER(s.scan_intent), 'TARGET') = 0
            THEN 1 ELSE 0 END AS is_calibrator
  FROM alma.asa_science s
 WHERE s.member_ouss_id = :mous
 GROUP BY s.source_name, s.scan_intent
