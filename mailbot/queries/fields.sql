-- The fields (sources) observed for one MOUS, and which are calibrators.
-- Binds:   :mous  the MOUS UID in URI form
-- Returns: rows (field_name, is_calibrator); is_calibrator 1 or 0 (Y/N and
--          true/false are read too). A field is a calibrator when none of its
--          scan intents is OBSERVE_TARGET: such data is public at once.
-- INSTR, not LIKE: "_" is a LIKE wildcard, and LIKE's case rules differ
-- between Oracle and SQLite.
SELECT s.source_name AS field_name,
       CASE WHEN SUM(CASE WHEN INSTR(UPPER(s.scan_intent), 'OBSERVE_TARGET') > 0
                          THEN 1 ELSE 0 END) = 0
            THEN 1 ELSE 0 END AS is_calibrator
  FROM alma.asa_science s
 WHERE s.member_ouss_id = :mous
 GROUP BY s.source_name
