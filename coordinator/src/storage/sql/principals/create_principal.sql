-- storage::principals::create_principal: principal $1 with role $2, unless
-- the name is taken.
INSERT INTO principals (name, role) VALUES ($1, $2::principal_role)
ON CONFLICT (name) DO NOTHING
RETURNING id, name, role
