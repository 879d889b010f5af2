-- Human review (issue 17): a post scheduled while its workflow waits for a review is held (approval_required) until
-- a reviewer approves its exact text, and the publisher then publishes it only while sha256(text) equals
-- approval_digest. A held post still unapproved at its publishing time is cancelled (the review expired).
ALTER TABLE scheduled_posts ADD COLUMN approval_required BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE scheduled_posts ADD COLUMN approval_digest TEXT NOT NULL DEFAULT '';
ALTER TABLE scheduled_posts ADD COLUMN approved_by TEXT NOT NULL DEFAULT '';
ALTER TABLE scheduled_posts ADD COLUMN approved_at TIMESTAMPTZ;
ALTER TABLE scheduled_posts ADD COLUMN review_id TEXT NOT NULL DEFAULT '';
