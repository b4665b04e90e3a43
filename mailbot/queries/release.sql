-- When the data of one MOUS becomes public.
-- Binds:   :mous  the MOUS UID in URI form
-- Returns: rows (release_date[, delivery]), one per delivery of the MOUS;
--          release_date NULL: that delivery's date is not set yet.
--          delivery (optional) names it for `mailbot explain`.
-- Fails closed: the data is public once the LATEST release date has passed
-- and only when EVERY delivery has one (a NULL beside a past date, or no row
-- at all: not public). The date is read, never computed: extensions move it.
-- Deliveries are found through the MOUS's execution blocks. An EB is linked
-- to its delivery by dp_delivery_asdm_ous.delivery_id = dp_delivery_status.id
-- on newer rows; older rows carry only deliverable_name, which the archive's
-- own TAP view joins to dp_delivery_status.delivery_id (a string such as
-- 2017.1.00727.S_uid___A001_X1296_X675): either link counts, so that no
-- delivery (and no NULL date) is missed.
-- To check first on the production archive: both links, and whether a
-- delivery_name column replaced delivery_id on newer rows.
SELECT DISTINCT ds.delivery_id AS delivery,
       ds.release_date AS release_date
  FROM alma.sched_block_status sb
  JOIN alma.aqua_execblock eb ON eb.schedblockuid = sb.domain_entity_id
  JOIN alma.dp_delivery_asdm_ous da ON da.asdm_uid = eb.execblockuid
  JOIN alma.dp_delivery_status ds
    ON ds.id = da.delivery_id
    OR ds.delivery_id = da.deliverable_name
 WHERE sb.parent_obs_unit_set_status_id = :mous
