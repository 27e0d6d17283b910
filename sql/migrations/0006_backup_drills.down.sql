-- 0006_backup_drills, undone: the drill history goes with its table.
DROP TABLE bo1_backup_drills;
