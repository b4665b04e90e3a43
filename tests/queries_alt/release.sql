-- Alternative release query. Binds :mous; rows (release_date) or none.
-- Finds the delivery by its name, <project>_<MOUS file form>, and returns
-- no row (rather than a NULL) when there is none.
SELECT ds.release_date AS RELEASE_DATE
  FROM alma.dp_delivery_status ds
  JOIN alma.bmmv_obsproject p
    ON ds.delivery_id = p.prj_code || '_' || REPLACE(REPLACE(:mous, '://', '___'), '/', '_')
  JOIN alma.obs_unit_set_status ous ON ous.obs_project_id = p.prj_archive_uid
 WHERE ous.status_entity_id = :mous
   AND ds.release_date IS NOT NULL
