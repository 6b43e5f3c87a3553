import PostgresNIO
import Spool
