-- Who may have the data of one MOUS.
-- Binds:   :mous  the MOUS UID in URI form, e.g. uid://A001/X1296/X675
-- Returns: rows (project_code, role, email), role 'PI' or 'DELEGEE';
--          the PI row is there even without an email (a NULL email);
--          zero rows: the archive does not know the MOUS (INVALID MOUS UID).
-- The MOUS's project comes from its status row, so that a MOUS without
-- ingested science data (no QA0 Pass yet) is still known.
SELECT p.prj_code      AS project_code,
       'PI'            AS role,
       pi.email        AS email
  FROM alma.obs_unit_set_status ous
  JOIN alma.bmmv_obsproject p ON p.prj_archive_uid = ous.obs_project_id
  LEFT JOIN alma.account pi ON pi.account_id = p.pi_userid
 WHERE ous.status_entity_id = :mous
UNION ALL
SELECT p.prj_code      AS project_code,
       'DELEGEE'       AS role,
       delegee.email   AS email
  FROM alma.obs_unit_set_status ous
  JOIN alma.bmmv_obsproject p ON p.prj_archive_uid = ous.obs_project_id
  JOIN alma.dp_delegation d ON UPPER(d.project_code) = UPPER(p.prj_code)
  JOIN alma.account delegee ON delegee.request_handler_id = d.delegee_rh_id
 WHERE ous.status_entity_id = :mous
