-- One database per service: a service owns its data and nobody reads another's tables.
-- Run once by the postgres image on an empty volume (docker-entrypoint-initdb.d).
-- ICU Thai collation as the default, so Thai names sort as Thai readers expect.
CREATE DATABASE membership TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'th-TH' LOCALE 'C.UTF-8';
CREATE DATABASE training TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'th-TH' LOCALE 'C.UTF-8';
CREATE DATABASE matching TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'th-TH' LOCALE 'C.UTF-8';
CREATE DATABASE feedback TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'th-TH' LOCALE 'C.UTF-8';
CREATE DATABASE analytics TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'th-TH' LOCALE 'C.UTF-8';
