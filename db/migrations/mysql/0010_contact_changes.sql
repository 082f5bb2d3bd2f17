-- Who changed a contact's consent or name, MySQL 8.0.1+ / MariaDB 10.6+. See the postgres file for what it means.
CREATE TABLE IF NOT EXISTS contact_changes (
  id BIGINT NOT NULL AUTO_INCREMENT,
  phone VARCHAR(20) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  opt_in_before VARCHAR(10) CHARACTER SET ascii COLLATE ascii_bin NULL,
  opt_in_after VARCHAR(10) CHARACTER SET ascii COLLATE ascii_bin NULL,
  name_before VARCHAR(200) NULL,
  name_after VARCHAR(200) NULL,
  actor VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  changed_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  KEY idx_contact_changes_phone (phone, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
