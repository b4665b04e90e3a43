-- Alternative QA0 query. Binds :mous; one row (n). Pass with any suffix counts.
SELECT SUM(CASE WHEN SUBSTR(UPPER(TRIM(e.QA0STATUS)), 1, 4) = 'PASS' THEN 1 ELSE 0 END) AS N
  FROM alma.aqua_execblock e
 WHERE e.schedblockuid IN (SELECT sb.domain_entity_id
                             FROM alma.sched_block_status sb
                            WHERE sb.parent_obs_unit_set_status_id = :mous)
