DROP TABLE syncd_pauses;
