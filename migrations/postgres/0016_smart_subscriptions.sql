-- Issue #17: the SMART app a subscription was created through (the JSON of its `AppAccess`:
-- client id, resource scopes, patient context), so that its notifications are decided with
-- the app's scopes and not the owner's full rights. NULL: created in the owner's own session.
ALTER TABLE subscriptions ADD COLUMN app TEXT;
