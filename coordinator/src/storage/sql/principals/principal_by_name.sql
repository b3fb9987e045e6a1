-- storage::principals::principal_by_name: principal $1.
SELECT id, name, role FROM principals WHERE name = $1
