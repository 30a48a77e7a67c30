DROP TABLE document_processing_queue;
