-- Alternative entitlement query (same contract as mailbot/queries/entitlement.sql):
-- binds :mous; rows (project_code, role, email). A CTE, other join order,
-- upper-case aliases and the columns in another order.
WITH mous_project AS (
    SELECT p.prj_code AS code, p.pi_userid AS pi_id
      FROM alma.bmmv_obsproject p, alma.obs_unit_set_status ous
     WHERE ous.obs_project_id = p.prj_archive_uid
       AND ous.status_entity_id = :mous
)
SELECT CASE WHEN a.account_id = mp.pi_id THEN 'PI' ELSE 'DELEGEE' END AS ROLE,
       a.email AS EMAIL,
       mp.code AS PROJECT_CODE
  FROM mous_project mp
  JOIN alma.account a ON a.account_id = mp.pi_id
UNION
SELECT 'DELEGEE', dacc.email, mp.code
  FROM alma.dp_delegation d
  JOIN alma.account piacc ON piacc.request_handler_id = d.pi_rh_id
  JOIN alma.account dacc ON dacc.request_handler_id = d.delegee_rh_id
  JOIN mous_project mp ON UPPER(mp.code) = UPPER(d.project_code);
