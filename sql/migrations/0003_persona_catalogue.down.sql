DROP TRIGGER personas_set_updated_at ON personas;
ALTER TABLE personas DROP CONSTRAINT personas_code_format;
ALTER TABLE personas DROP COLUMN updated_at;
ALTER TABLE personas DROP COLUMN is_active;
ALTER TABLE personas DROP COLUMN category;
