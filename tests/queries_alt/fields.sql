-- Alternative fields query. Binds :mous; rows (field_name, is_calibrator),
-- here with the flag as 'Y'/'N' and the columns in the other order.
SELECT CASE WHEN MAX(CASE WHEN UPPER(sci.scan_intent) LIKE UPPER('%observe!_target%') ESCAPE '!'
                          THEN 1 ELSE 0 END) = 1
            THEN 'N' ELSE 'Y' END AS Is_Calibrator,
       sci.source_name AS Field_Name
  FROM alma.asa_science sci
 WHERE sci.member_ouss_id = :mous
 GROUP BY sci.source_name
 ORDER BY sci.source_name DESC
