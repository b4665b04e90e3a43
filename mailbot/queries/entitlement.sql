-- Who may have the data of one MOUS.
-- Binds:   :mous  the MOUS UID in URI form, e.g. uid://A001/X1296/X675
-- Returns: rows (project_code, role, email). Only the roles 'PI' and
--          'DELEGEE' entitle; a row with any other role (an inactive account,
--          a delegation that is not for data) entitles nobody and is shown by
--          `mailbot explain`. The PI row is there even without an account or
--          an email (a NULL email); zero rows: the archive does not know the
--          MOUS (INVALID MOUS UID).
-- The MOUS's project comes from its status row, so that a MOUS without
-- ingested science data (no QA0 Pass yet) is still known.
-- Fails closed: an account entitles only when active = 'T' (inactive
-- accounts linger, and two accounts may share an email); a delegation only
-- when its delegation_type is DATA (the Science Portal also delegates ToO
-- triggers, which give no data rights).
-- To check first on the production archive (public code is not sure):
-- - the PI: bmmv_obsproject.pi = account.account_id, as public "PI view"
--   SQL joins it; ESO's schema may instead offer bmmv_obsproposal.pi_userid
--   (joined on bmmv_obsproposal.projectuid = bmmv_obsproject.prj_archive_uid);
-- - delegations: account_delegation (pi_rh_id, delegee_rh_id, project_code,
--   delegation_type), as ALMA's QA0 tool maps it; the first draft of this
--   query named dp_delegation, without a type. The spelling of the data
--   type ('DATA' here) and of account.active ('T'/'F') are assumed;
-- - Large Programs' co-PIs, who have the PI's data rights, are not listed.
SELECT p.prj_code AS project_code,
       CASE WHEN UPPER(TRIM(pi.active)) = 'T' THEN 'PI'
            WHEN pi.account_id IS NULL THEN 'PI (no account)'
            ELSE 'PI (inactive account)' END AS role,
       pi.email AS email
  FROM alma.obs_unit_set_status ous
  JOIN alma.bmmv_obsproject p ON p.prj_archive_uid = ous.obs_project_id
  LEFT JOIN alma.account pi ON pi.account_id = p.pi
 WHERE ous.status_entity_id = :mous
UNION ALL
SELECT p.prj_code AS project_code,
       CASE WHEN UPPER(TRIM(delegee.active)) = 'T'
             AND UPPER(TRIM(d.delegation_type)) = 'DATA' THEN 'DELEGEE'
            WHEN UPPER(TRIM(delegee.active)) = 'T' THEN 'DELEGEE (not for data)'
            ELSE 'DELEGEE (inactive account)' END AS role,
       delegee.email AS email
  FROM alma.obs_unit_set_status ous
  JOIN alma.bmmv_obsproject p ON p.prj_archive_uid = ous.obs_project_id
  JOIN alma.account_delegation d ON UPPER(d.project_code) = UPPER(p.prj_code)
  JOIN alma.account delegee ON delegee.request_handler_id = d.delegee_rh_id
 WHERE ous.status_entity_id = :mous
