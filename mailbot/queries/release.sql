-- When the data of one MOUS becomes public.
-- Binds:   :mous  the MOUS UID in URI form
-- Returns: one row (release_date) or none; a NULL or no row: no release date
--          yet. The data is public once the date has passed. With several
--          rows the latest date counts.
SELECT MAX(ds.release_date) AS release_date
  FROM alma.sched_block_status sb
  JOIN alma.aqua_execblock eb ON eb.schedblockuid = sb.domain_entity_id
  JOIN alma.dp_delivery_asdm_ous da ON da.asdm_uid = eb.execblockuid
  JOIN alma.dp_delivery_status ds ON ds.id = da.delivery_id
 WHERE sb.parent_obs_unit_set_status_id = :mous
