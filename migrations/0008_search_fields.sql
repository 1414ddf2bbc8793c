-- The search index for webhook.site's query language: the decoded query
-- string gets its own column, and `named` ties each word of a header,
-- query parameter or form field value to its name (see
-- store::search::named_token), so `headers.content-type:json` finds
-- `application/json`. The old index cannot be converted: it is dropped,
-- and resetting the high-water mark makes the indexer rebuild it from
-- `requests` (in the background, and before any search).

DROP TABLE requests_fts;

CREATE VIRTUAL TABLE requests_fts USING fts5 (
    bin, method, ip, path, query, headers, body, named,
    content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);

UPDATE search_index_state SET indexed_up_to = 0;
