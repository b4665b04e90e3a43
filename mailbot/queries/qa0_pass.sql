-- How many execution blocks of one MOUS passed QA0.
-- Binds:   :mous  the MOUS UID in URI form
-- Returns: one row (n), the number of execution blocks with QA0 status Pass.
-- Pass may carry a suffix (JAO's ingestion selects LIKE 'Pass%'); SemiPass,
-- Fail, Unset, Pending and NULL are not Pass. UPPER on both sides: Oracle's
-- LIKE is case-sensitive, SQLite's is not.
SELECT COUNT(DISTINCT eb.execblockuid) AS n
  FROM alma.sched_block_status sb
  JOIN alma.aqua_execblock eb ON eb.schedblockuid = sb.domain_entity_id
 WHERE sb.parent_obs_unit_set_status_id = :mous
   AND UPPER(TRIM(eb.qa0status)) LIKE 'PASS%'
