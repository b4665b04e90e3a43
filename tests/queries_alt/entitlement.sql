-- Alternative entitlement query (same contract as mailbot/queries/entitlement.sql):
-- binds :mous; rows (project_code, role, email). A CTE, the PI taken from
-- bmmv_obsproposal.pi_userid instead of bmmv_obsproject.pi, upper-case aliases,
-- the columns in another order, and another way to fail closed: a row that
-- must not entitle keeps its role but loses its email (NULL matches nobody).
WITH mous_project AS (
    SELECT p.prj_code AS code, prp.pi_userid AS pi_id
      FROM alma.bmmv_obsproject p
      JOIN alma.obs_unit_set_status ous ON ous.obs_project_id = p.prj_archive_uid
      LEFT JOIN alma.bmmv_obsproposal prp ON prp.projectuid = p.prj_archive_uid
     WHERE ous.status_entity_id = :mous
)
SELECT 'PI' AS ROLE,
       CASE WHEN a.active = 'T' THEN a.email END AS EMAIL,
       mp.code AS PROJECT_CODE
  FROM mous_project mp
  LEFT JOIN alma.account a ON a.account_id = mp.pi_id
UNION
SELECT 'DELEGEE',
       CASE WHEN dacc.active = 'T' AND UPPER(d.delegation_type) = 'DATA' THEN dacc.email END,
       mp.code
  FROM alma.account_delegation d
  JOIN alma.account dacc ON dacc.request_handler_id = d.delegee_rh_id
  JOIN mous_project mp ON UPPER(mp.code) = UPPER(d.project_code);
