-- How many execution blocks of one MOUS passed QA0.
-- Binds:   :mous  the MOUS UID in URI form
-- Returns: one row (n), the number of execution blocks with QA0 status Pass.
SELECT COUNT(DISTINCT eb.execblockuid) AS n
  FROM alma.sched_block_status sb
  JOIN alma.aqua_execblock eb ON eb.schedblockuid = sb.domain_entity_id
 WHERE sb.parent_obs_unit_set_status_id = :mous
   AND UPPER(eb.qa0status) = 'PASS'
