-- Alternative QA0 query. Binds :mous; one row (n).
SELECT SUM(CASE WHEN UPPER(e.QA0STATUS) = UPPER('Pass') THEN 1 ELSE 0 END) AS N
  FROM alma.aqua_execblock e
 WHERE e.schedblockuid IN (SELECT sb.domain_entity_id
                             FROM alma.sched_block_status sb
                            WHERE sb.parent_obs_unit_set_status_id = :mous)
