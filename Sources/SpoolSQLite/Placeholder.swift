import GRDB
import Spool
