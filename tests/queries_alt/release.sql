-- Alternative release query. Binds :mous; one row (release_date): the latest
-- date of the MOUS's deliveries, NULL when any of them has none yet (COUNT of
-- a column skips NULLs, COUNT(*) does not) or when there is none. Links EBs
-- to deliveries by name only, as the archive's own TAP view does.
SELECT CASE WHEN COUNT(*) = COUNT(ds.release_date)
            THEN MAX(ds.release_date) END AS RELEASE_DATE
  FROM alma.dp_delivery_status ds
 WHERE ds.delivery_id IN (SELECT da.deliverable_name
                            FROM alma.dp_delivery_asdm_ous da
                            JOIN alma.aqua_execblock eb ON eb.execblockuid = da.asdm_uid
                            JOIN alma.sched_block_status sb
                              ON sb.domain_entity_id = eb.schedblockuid
                           WHERE sb.parent_obs_unit_set_status_id = :mous)
