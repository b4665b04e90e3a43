-- Alternative fields query. Binds :mous; rows (field_name, is_calibrator), one
-- per field, here with the flag as 'Y'/'N', the columns in the other order and
-- no intents column. A field is science when any of its rows has no intents
-- or a target intent (LIKE, upper-cased on both sides; '%' only, no '_').
SELECT CASE WHEN MAX(CASE WHEN TRIM(sci.scan_intent) IS NULL
                            OR LENGTH(TRIM(sci.scan_intent)) = 0
                            OR UPPER(sci.scan_intent) LIKE UPPER('%target%')
                          THEN 1 ELSE 0 END) = 1
            THEN 'N' ELSE 'Y' END AS Is_Calibrator,
       sci.source_name AS Field_Name
  FROM alma.asa_science sci
 WHERE sci.member_ouss_id = :mous
 GROUP BY sci.source_name
 ORDER BY sci.source_name DESC
