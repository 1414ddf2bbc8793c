-- Signature verification (issue 15): a bin's verifiers, as the JSON list
-- the API takes (secrets included: the checks need them; they are never
-- shown back), and each request's verdict. A request stored before its
-- bin had a verifier has no verdict (NULL provider) until checked again.
ALTER TABLE bins ADD COLUMN verifiers text NOT NULL DEFAULT '[]';
ALTER TABLE requests ADD COLUMN signature_provider text;
ALTER TABLE requests ADD COLUMN signature_valid boolean;
ALTER TABLE requests ADD COLUMN signature_reason text;
