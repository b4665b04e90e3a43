-- The life-cycle state of one MOUS.
-- Binds:   :mous  the MOUS UID in URI form
-- Returns: one row (state), e.g. Delivered, QA3InProgress, DeliveryInProgress;
--          no row, a NULL, or rows that disagree: the state is unknown, and
--          the MOUS is then not delivered. Only Delivered is staged.
SELECT ous.domain_entity_state AS state
  FROM alma.obs_unit_set_status ous
 WHERE ous.status_entity_id = :mous
