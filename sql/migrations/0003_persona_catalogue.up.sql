-- The persona catalogue is seeded from bootstrap/data/personas.json at every
-- bootstrap. A persona that leaves the file but is referenced by contributions
-- or votes is deactivated instead of deleted, so history keeps its author.

ALTER TABLE personas ADD COLUMN category varchar(50) NOT NULL DEFAULT 'general'
    CONSTRAINT personas_category_format CHECK (category ~ '^[a-z][a-z_]*$');
ALTER TABLE personas ALTER COLUMN category DROP DEFAULT;
ALTER TABLE personas ADD COLUMN is_active boolean NOT NULL DEFAULT true;
ALTER TABLE personas ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE personas ADD CONSTRAINT personas_code_format CHECK (code ~ '^[a-z][a-z0-9_]*$');

CREATE TRIGGER personas_set_updated_at BEFORE UPDATE ON personas
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
