-- A membership belongs to a profile: deleting the profile deletes it. The key also orders a
-- segmentation batch that lets a profile enter behind a concurrent deletion of that profile (the
-- insert's key check waits for the deletion, then fails, and the batch runs again without it),
-- where the batch would otherwise leave a member with no profile.
DELETE FROM segment_members m WHERE NOT EXISTS (SELECT 1 FROM profiles p WHERE p.id = m.profile_id);
ALTER TABLE segment_members
  ADD CONSTRAINT segment_members_profile FOREIGN KEY (profile_id) REFERENCES profiles (id) ON DELETE CASCADE;
