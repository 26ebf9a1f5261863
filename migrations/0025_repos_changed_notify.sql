-- Each hub node keeps the repo rows its lookups found (repos::lookup_cache),
-- so hot reads skip a database round trip. Any statement that changes what a
-- lookup returns tells every node, at commit, to forget them.
CREATE FUNCTION ky_notify_repos_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ky_repos_changed', '');
    RETURN NULL;
END $$;

CREATE TRIGGER repos_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON repos
    FOR EACH STATEMENT EXECUTE FUNCTION ky_notify_repos_changed();
CREATE TRIGGER namespaces_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON namespaces
    FOR EACH STATEMENT EXECUTE FUNCTION ky_notify_repos_changed();
CREATE TRIGGER repo_redirects_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON repo_redirects
    FOR EACH STATEMENT EXECUTE FUNCTION ky_notify_repos_changed();
CREATE TRIGGER repo_downloads_daily_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON repo_downloads_daily FOR EACH STATEMENT EXECUTE FUNCTION ky_notify_repos_changed();
