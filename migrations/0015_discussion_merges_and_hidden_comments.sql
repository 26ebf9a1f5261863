-- The head of its target branch a pull request was merged onto, so that a
-- merged pull request still shows its changes (from there to refs/pr/{num})
-- once they are on the branch. NULL for pull requests merged before it was
-- recorded (they show no changes).
ALTER TABLE discussions ADD COLUMN merged_onto TEXT;


-- A writer hiding a comment is recorded as an event (`data: {"comment": id}`).
ALTER TABLE discussion_events DROP CONSTRAINT discussion_events_kind_check;
ALTER TABLE discussion_events ADD CONSTRAINT discussion_events_kind_check
    CHECK (kind IN ('comment', 'status-change', 'title-change', 'commit', 'comment-hidden'));
