DROP TABLE document_extractions;
DROP TABLE monday_pauses;
DROP TABLE monday_items;
