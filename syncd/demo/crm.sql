-- The demo's CRM, as a host application keeps it (the reference shape that
-- migrations/0001 creates): four organizations and their contacts.
INSERT INTO organizations (name, website, phone, industry, country) VALUES
    ('Analytical Engines Ltd', 'https://analytical.example', '+44 20 7946 0000', 'Hardware', 'GB'),
    ('Harvard Computation Lab', 'https://mark-one.example', '+1 617 555 0100', 'Research', 'US'),
    ('Bletchley Park', 'https://bletchley.example', '+44 1908 640404', 'Research', 'GB'),
    ('Remington Rand', 'https://univac.example', '+1 212 555 0142', 'Hardware', 'US');

INSERT INTO contacts (first_name, last_name, email, phone, title, organization_id)
SELECT c.first_name, c.last_name, c.email, c.phone, c.title, o.id
  FROM (VALUES
    ('Ada', 'Lovelace', 'ada@analytical.example', '+44 20 7946 0018', 'Programmer', 'Analytical Engines Ltd'),
    ('Charles', 'Babbage', 'charles@analytical.example', '+44 20 7946 0019', 'Inventor', 'Analytical Engines Ltd'),
    ('Grace', 'Hopper', 'grace@mark-one.example', '+1 617 555 0101', 'Rear Admiral', 'Harvard Computation Lab'),
    ('Howard', 'Aiken', 'howard@mark-one.example', '+1 617 555 0102', 'Director', 'Harvard Computation Lab'),
    ('Alan', 'Turing', 'alan@bletchley.example', '+44 1908 640405', 'Cryptanalyst', 'Bletchley Park'),
    ('Joan', 'Clarke', 'joan@bletchley.example', '+44 1908 640406', 'Cryptanalyst', 'Bletchley Park'),
    ('Betty', 'Holberton', 'betty@univac.example', '+1 212 555 0143', 'Programmer', 'Remington Rand'),
    -- An email address without a domain: syncd passes it on, monday refuses it
    -- (ColumnValueException), and the job fails for good with monday's message.
    ('Edsger', 'Dijkstra', 'edsger@eindhoven', NULL, 'Professor', NULL)
  ) AS c (first_name, last_name, email, phone, title, organization)
  LEFT JOIN organizations o ON o.name = c.organization;
