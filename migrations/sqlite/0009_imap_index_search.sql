-- mail/store: what IMAP SELECT and SEARCH read on a large mailbox.
--
-- SELECT loads every message's UID and MODSEQ (store.LoadIndex): this
-- index covers that query, so the rows themselves are not read.
CREATE INDEX messages_uid_modseq ON messages (mailbox_id, uid, modseq);
-- ...and the keywords in use, for FLAGS: only messages whose flags hold a
-- keyword (a word that does not start with a backslash) are in this index,
-- so a mailbox without keywords answers at once. Flags are stored
-- space-separated: a keyword is first, or follows a space that is not
-- followed by a backslash. store.LoadIndex repeats this condition word for
-- word, so that the planner can use the index.
CREATE INDEX messages_keywords ON messages (mailbox_id, flags)
	WHERE flags <> '' AND (substr(flags, 1, 1) <> '\' OR replace(flags, ' \', '') LIKE '% %');

-- SEARCH FROM, TO, CC, BCC and SUBJECT match these lower-cased forms of
-- the cached header fields in the database (store.SearchHeader): the
-- addresses of the field, each as "name <mailbox@host>", one per line, and
-- the decoded subject. NULL for messages stored before this migration:
-- those are matched from their envelope instead, until `tidings serve`
-- fills their forms at start (store.FillSearchForms), finding them through
-- the partial index below, which is empty afterwards.
ALTER TABLE messages ADD COLUMN search_from TEXT;
ALTER TABLE messages ADD COLUMN search_to TEXT;
ALTER TABLE messages ADD COLUMN search_cc TEXT;
ALTER TABLE messages ADD COLUMN search_bcc TEXT;
ALTER TABLE messages ADD COLUMN search_subject TEXT;
CREATE INDEX messages_search_missing ON messages (id) WHERE search_from IS NULL;
