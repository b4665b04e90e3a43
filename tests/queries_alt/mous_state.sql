/* Alternative state query. Binds :mous; one row (state). */
SELECT UPPER(SUBSTR(s.domain_entity_state, 1, 1)) || SUBSTR(s.domain_entity_state, 2) AS "STATE"
FROM alma.obs_unit_set_status s
WHERE s.status_entity_id = :mous ;
